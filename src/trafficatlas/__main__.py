from trafficatlas.cli.app import main

main()
