"""Layer 5, the command line: ``simulate`` (``main``), its tables (``tables``)
and ``simulate trial`` (``trial``). Only this layer prints and exits."""
