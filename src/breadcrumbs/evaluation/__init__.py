"""Evaluation: run cache policies over a task, record one JSON line per problem x method, and report the
memory–accuracy Pareto frontier.

>>> from breadcrumbs.evaluation import evaluate, write_report
>>> result = evaluate(model, tokenizer, "countdown", problems, "full,beacon:4,tova:@beacon:4", out="results.jsonl")
>>> write_report("results.jsonl", "report/")
"""

from breadcrumbs.evaluation.metrics import MethodSummary, bootstrap_ci, summarize
from breadcrumbs.evaluation.report import Report, markdown_table, write_report
from breadcrumbs.evaluation.results import read_results
from breadcrumbs.evaluation.runner import EvalResult, Method, budget_from_reference, evaluate, parse_methods

__all__ = [
    "EvalResult",
    "Method",
    "MethodSummary",
    "Report",
    "bootstrap_ci",
    "budget_from_reference",
    "evaluate",
    "markdown_table",
    "parse_methods",
    "read_results",
    "summarize",
    "write_report",
]
