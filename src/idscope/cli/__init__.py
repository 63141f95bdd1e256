"""The ``idscope`` command line: one module per command, text formatting only here."""
