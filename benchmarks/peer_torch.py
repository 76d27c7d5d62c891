"""The PyTorch peer of `eqn-keras annotate`: what a careful PyTorch + transformers user would write.

Benchmark only (benchmarks/requirements-peer.txt; never a project dependency). It annotates a CSV/TSV
the way `eqn-keras annotate` does, with the same weights: the Hugging Face checkpoint the run's backbone
came from, and the run's EQN head (Dense-ReLU, linear, x(max-min)+min, clipped) from an .npz that
`bert_speed.py` extracts. Texts are sorted by length and tokenized inside the loop, 64 per batch, each
batch padded to its longest text; `torch.inference_mode`, fp32 (or, with `--bf16`, the transformer under
`torch.autocast("cpu", torch.bfloat16)`, what such a user does on a CPU with native bf16 matmuls).

    python benchmarks/peer_torch.py --checkpoint DIR --head head.npz --input test.csv --output out.csv
"""

from __future__ import annotations

import argparse
import time

STARTED = time.perf_counter()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from transformers import AutoModel, AutoTokenizer  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="Hugging Face checkpoint directory (config, weights, vocab)")
    p.add_argument("--head", required=True, help=".npz with dense_kernel, dense_bias, scores_kernel, scores_bias, "
                                                  "scale, offset, low, high")
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--text-col", default="text")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-length", type=int, default=150, help="tokens per text, [CLS] and [SEP] included")
    p.add_argument("--bf16", action="store_true", help="run the transformer under CPU autocast to bfloat16")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_grad_enabled(False)
    tokenizer = AutoTokenizer.from_pretrained(args.checkpoint)
    model = AutoModel.from_pretrained(args.checkpoint).eval()
    head = np.load(args.head)
    dense_w, dense_b = torch.from_numpy(head["dense_kernel"]), torch.from_numpy(head["dense_bias"])
    scores_w, scores_b = torch.from_numpy(head["scores_kernel"]), torch.from_numpy(head["scores_bias"])
    scale, offset = float(head["scale"]), float(head["offset"])
    low, high = float(head["low"]), float(head["high"])
    loaded = time.perf_counter()

    sep = "\t" if args.input.endswith(".tsv") else ","
    frame = pd.read_csv(args.input, sep=sep, dtype=str, keep_default_na=False)
    texts = frame[args.text_col].tolist()
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), scores_w.shape[1]), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), args.batch_size):
            rows = order[start:start + args.batch_size]
            batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=args.max_length,
                              return_tensors="pt")
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                pooled = model(**batch).pooler_output.float()
            hidden = torch.relu(pooled @ dense_w + dense_b)
            out[rows] = ((hidden @ scores_w + scores_b) * scale + offset).clamp(low, high).numpy()
    scored = time.perf_counter()
    energies = pd.DataFrame(np.round(out, 2), columns=[str(n) for n in head["label_names"]])
    pd.concat([frame, energies], axis=1).to_csv(args.output, index=False)
    done = time.perf_counter()
    print(f"peer_torch: {len(texts)} texts; model loaded {loaded - STARTED:.1f} s after the imports began, "
          f"scoring {scored - loaded:.1f} s, writing {done - scored:.1f} s; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
