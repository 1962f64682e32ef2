"""`python -m ofhq_pipeline.dictionary`: regenerate docs/data-dictionary.md."""

import sys

from ofhq_pipeline.dictionary import write_docs

sys.stdout.write(f"wrote {write_docs()}\n")
