# Policy tests on real execs (issue 6): subtree scoping, show/apply round
# trip, applies in the middle of an exec storm.
# Sourced by run.sh; each t_NAME runs in its own process (see lib.sh).
