from auctionhouse.cli import main

main()
