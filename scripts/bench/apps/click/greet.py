# /// script
# requires-python = ">=3.9"
# dependencies = ["click==8.5.1"]
# ///

# /// pyk
# name = "greet"
# ///
"""A click CLI: a command with an option and an argument, run once per start."""
import click


@click.command()
@click.option("--count", default=2, help="How many greetings.")
@click.argument("name", default="world")
def greet(count, name):
    for i in range(count):
        click.echo(f"{i + 1}. hello {name}")


if __name__ == "__main__":
    greet()
