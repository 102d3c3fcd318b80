"""The command-line entry points. Kept light: nothing here imports numpy at package import."""
