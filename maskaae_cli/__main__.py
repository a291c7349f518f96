from maskaae_cli.cli.app import main

main()
