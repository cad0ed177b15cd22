// Temporary entry point while the command line (issue 2) is built on branch `cli`.
StandInRoot.main()
