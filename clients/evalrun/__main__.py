"""`python -m clients.evalrun run|replay|finalize` (claude-p.sh and the tests start it so)."""

from clients.evalrun.cli import main

main()
