"""The cyclic garbage collector in a `kosmos-corpus` process: off while modules load and the graph is
built, then everything alive is frozen out of later collections.

Why: importing Beam (and what a pipeline needs) and building the graph create about two million
long-lived objects. With the collector on, every full collection rescans all of them: about 40% of
the CPU of importing Beam, again at each full collection while documents flow, and again in the
interpreter's final collections at exit. With it off until the graph is built, one collection then
frees the garbage of start-up and `gc.freeze()` moves the survivors (modules, the graph) to the
permanent generation, so later collections scan only what the run itself allocates.

Only a process the CLI owns (the console script) does this; a library caller of `main(argv)`
(tests, the demo's inner runs) keeps Python's defaults, since frozen objects are never collected.
"""

from __future__ import annotations

import gc

_owned = False


def own_process() -> None:
    """This process runs one CLI command and then exits: collect nothing until the graph is built."""
    global _owned
    _owned = True
    gc.disable()


def graph_built() -> None:
    """Free start-up garbage once, freeze what is left, and collect normally from here on."""
    if _owned:
        gc.collect()
        gc.freeze()
        gc.enable()


def exiting() -> None:
    """Freeze everything so the interpreter's final collections have nothing left to scan."""
    if _owned:
        gc.freeze()
