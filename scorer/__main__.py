import sys

if sys.argv[1:2] == ["verify-legacy"]:
    from scorer.legacy_verify import main as verify_legacy

    verify_legacy(sys.argv[2:])
else:
    from scorer.cli import main

    main()
