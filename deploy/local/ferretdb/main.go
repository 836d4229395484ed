// Command ferretdb-local runs FerretDB v1 on SQLite on loopback for local development
// and tests. It embeds FerretDB instead of `go install`ing its binary, whose version
// file is missing from the module zip and makes it panic at start.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dataDir := flag.String("data", ".local/data/ferretdb", "SQLite data directory")
	flag.Parse()

	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		log.Fatalf("ferretdb-local: cannot create data dir %s: %v", *dataDir, err)
	}
	// Telemetry must never try to reach the internet.
	os.Setenv("FERRETDB_TELEMETRY", "disable")
	os.Setenv("DO_NOT_TRACK", "1")

	url := "file:" + *dataDir
	if url[len(url)-1] != '/' {
		url += "/"
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Handler:   "sqlite",
		SQLiteURL: url,
	})
	if err != nil {
		log.Fatalf("ferretdb-local: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Printf("ferretdb-local: listening on %s, data in %s", *listen, *dataDir)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatalf("ferretdb-local: %v", err)
	}
}
