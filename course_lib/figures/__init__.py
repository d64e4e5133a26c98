"""Diagrams for the chapters, drawn with matplotlib: one module per chapter (``bptt``, ``lstm``)."""
