"""Studies: each paper's findings as a unit that runs on any model and data.

A study (:class:`~idscope.studies.base.Study`) takes a model and a data spec, runs its
experiments (resumable, tables on disk), measures, and judges each finding from 95 %
intervals against a stated criterion; :mod:`idscope.report` renders the result. The demo
(:data:`~idscope.studies.demo.DEMO`) is the list of studies on the bundled data.
"""

from .ansuini import ANSUINI
from .base import Figure, Finding, Study, Workspace
from .demo import DEMO, STUDIES, run_studies
from .konz import KONZ
from .settings import DemoSettings

__all__ = ["ANSUINI", "KONZ", "DEMO", "STUDIES", "Study", "Finding", "Figure", "Workspace",
           "DemoSettings", "run_studies"]
