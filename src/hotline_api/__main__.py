from hotline_api.cli import main

main()
