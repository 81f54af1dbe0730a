"""Vietnamese text processing and classifiers. A library: it never imports ``monitor``."""
