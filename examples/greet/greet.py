#!/usr/bin/env python3
# /// pyk
# name = "greet"
# dependencies = ["click>=8"]
# ///
import click


@click.command()
@click.option("--name", default="world", help="Who to greet.")
@click.option("--count", default=1, help="How many times.")
def main(name, count):
    for _ in range(count):
        click.echo(f"Hello, {name}!")


if __name__ == "__main__":
    main()
