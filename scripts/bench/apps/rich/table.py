# /// script
# requires-python = ">=3.9"
# dependencies = ["rich==15.0.0"]
# ///

# /// pyk
# name = "table"
# ///
"""A rich table rendered to stdout (plain text when stdout is not a terminal)."""
from rich.console import Console
from rich.table import Table

table = Table(title="Packers")
table.add_column("tool")
table.add_column("format", justify="right")
for tool, fmt in [("pyk", "layers"), ("PyApp", "installer"), ("PyInstaller", "onefile")]:
    table.add_row(tool, fmt)
Console(width=60).print(table)
