"""`python -m breadcrumbs ...` runs the command line."""

from breadcrumbs.console import main

main()
