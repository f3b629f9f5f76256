from qai.cli import main

main()
