from sellerguard.cli import main

main()
