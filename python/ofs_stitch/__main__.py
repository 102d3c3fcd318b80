from .cli.command import run

run()
