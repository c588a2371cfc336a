from scorer.service import main

main()
