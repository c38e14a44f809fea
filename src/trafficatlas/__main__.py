from trafficatlas.cli.app import main

if __name__ == "__main__":  # a spawned child process imports this module too
    main()
