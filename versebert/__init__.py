"""VerseBERT, the application: data, training, retrieval, evaluation, the command line and the server.

The model itself (what a checkpoint carries as remote code) is the separate package
``modeling_versebert``. Importing ``versebert`` imports neither torch nor transformers: the modules
that need them import them where they are used, so BM25 search and ``versebert --help`` start fast.
"""

from importlib import metadata

try:
    __version__ = metadata.version("versebert")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
