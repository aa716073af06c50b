from gemmaiku.cli import main

main()
