"""`python -m nianbao …` is the `nianbao` command (the scheduler starts its crawls this way)."""

from nianbao.cli import app

app(prog_name="nianbao")
