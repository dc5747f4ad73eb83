"""Integrations with other training libraries, each an optional extra imported only by its own module:
`breadcrumbs.integrations.trl` (`pip install 'breadcrumbs[trl]'`)."""
