# The two commands a newcomer needs are in README.md: `go run ./cmd/livehouse`
# and `make test`.
GO ?= go
FUZZTIME ?= 15s

.PHONY: run test check unit fuzz bench vendor-web

run:
	$(GO) run ./cmd/livehouse

# The whole suite: installs what tests need, starts PostgreSQL, checks
# formatting and vet, then runs every test (fuzz seeds included) with -race.
test:
	./scripts/test-deps.sh
	@unformatted="$$(gofmt -l cmd internal)"; if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...

# Quick loop while coding: no installs, no race detector.
unit:
	$(GO) test -count=1 ./...

# Run each fuzz target for FUZZTIME.
fuzz:
	$(GO) test ./internal/media/rtmp -run '^$$' -fuzz FuzzPublishKey -fuzztime $(FUZZTIME)
	$(GO) test ./internal/media/srt -run '^$$' -fuzz FuzzParseStreamID -fuzztime $(FUZZTIME)
	$(GO) test ./internal/media/srt -run '^$$' -fuzz FuzzTSGuard -fuzztime $(FUZZTIME)
	$(GO) test ./internal/media/flv -run '^$$' -fuzz FuzzRead -fuzztime $(FUZZTIME)
	$(GO) test ./internal/media/webrtc -run '^$$' -fuzz FuzzInspectOffer -fuzztime $(FUZZTIME)
	$(GO) test ./internal/media/webrtc -run '^$$' -fuzz FuzzParseTrickle -fuzztime $(FUZZTIME)
	$(GO) test ./internal/media/webrtc -run '^$$' -fuzz FuzzDepacketize -fuzztime $(FUZZTIME)
	$(GO) test ./internal/media/flv -run '^$$' -fuzz FuzzParseAVCConfig -fuzztime $(FUZZTIME)
	$(GO) test ./internal/media -run '^$$' -fuzz FuzzParsePartName -fuzztime $(FUZZTIME)
	$(GO) test ./internal/config -run '^$$' -fuzz FuzzApplyFile -fuzztime $(FUZZTIME)
	$(GO) test ./internal/channel -run '^$$' -fuzz FuzzInput -fuzztime $(FUZZTIME)
	$(GO) test ./internal/recording -run '^$$' -fuzz FuzzCompleteFragments -fuzztime $(FUZZTIME)
	$(GO) test ./internal/recording -run '^$$' -fuzz FuzzScanSegment -fuzztime $(FUZZTIME)
	$(GO) test ./internal/simulcast -run '^$$' -fuzz FuzzParseDestURL -fuzztime $(FUZZTIME)
	$(GO) test ./internal/channel -run '^$$' -fuzz FuzzEmoteImage -fuzztime $(FUZZTIME)
	$(GO) test ./internal/notify -run '^$$' -fuzz FuzzCheckSubscription -fuzztime $(FUZZTIME)
	$(GO) test ./internal/account -run '^$$' -fuzz FuzzNormalizeUsername -fuzztime $(FUZZTIME)
	$(GO) test ./internal/account -run '^$$' -fuzz FuzzChallengeVerify -fuzztime $(FUZZTIME)
	$(GO) test ./internal/room -run '^$$' -fuzz FuzzDecodeFrame -fuzztime $(FUZZTIME)
	$(GO) test ./internal/room -run '^$$' -fuzz FuzzClean -fuzztime $(FUZZTIME)
	$(GO) test ./internal/room -run '^$$' -fuzz FuzzExtractMentions -fuzztime $(FUZZTIME)
	$(GO) test ./internal/textclean -run '^$$' -fuzz FuzzClean -fuzztime $(FUZZTIME)
	$(GO) test ./internal/store -run '^$$' -fuzz FuzzRewriteParams -fuzztime $(FUZZTIME)
	$(GO) test ./internal/clientaddr -run '^$$' -fuzz FuzzClientFrom -fuzztime $(FUZZTIME)

bench:
	$(GO) run ./cmd/livehouse bench

vendor-web:
	./scripts/vendor-web.sh
