from rlm_cli.entry import main

main()
