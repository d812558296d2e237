from schoolpass.cli import main

main()
