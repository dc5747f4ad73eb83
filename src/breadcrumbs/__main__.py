"""`python -m breadcrumbs` runs the command line."""

from breadcrumbs.cli import main

main()
