# The two commands a newcomer needs are in README.md: `go run ./cmd/livehouse`
# and `make test`.
GO ?= go
FUZZTIME ?= 15s

.PHONY: run test test-browser-lane test-rest-lane check unit fuzz bench vendor-web

run:
	$(GO) run ./cmd/livehouse

# The whole suite: installs what tests need, starts PostgreSQL, checks
# formatting and vet, then runs every test (fuzz seeds included).
# internal/app alone holds ~24 minutes of tests that mostly wait on real
# time (streams going live, players buffering, replays recorded) rather
# than on the CPU, so the suite runs in two lanes at once, each one package
# at a time: the browser lane (internal/app's Chromium tests, then the
# multi-process cluster and failover packages, then BALANCE) and the rest.
# BALANCE are two of the slowest other packages (~1.5 of their ~4
# minutes), moved so both lanes end at about the same time.
# Every test binary is built once before the lanes start (-exec true): it
# links them twice, but without it the rest lane compiled internal/app
# under -race while the first Chromium tests ran, and they starved.
# Everything runs with -race except the Chromium tests: they drive the
# server as a black box while Chromium decodes video in real time, and on
# 2 cores a race-instrumented server (several times the CPU) starved the
# players into timeouts. The same server code runs under -race in the
# rest lane (internal/app's HTTP, WebSocket, ingest and crash tests) and in
# every package's own tests.
test:
	./scripts/test-deps.sh
	@unformatted="$$(gofmt -l cmd internal)"; if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -race -count=1 -exec true -run '^$$' ./... >/dev/null
	$(GO) test -count=1 -exec true -run '^$$' ./internal/app >/dev/null
	$(MAKE) --no-print-directory -j2 -O test-browser-lane test-rest-lane

MULTIPROCESS = ./internal/edge/clustertest ./internal/media/failovertest
BALANCE = ./internal/money ./internal/media/srt

test-browser-lane:
	@rc=0; \
	$(GO) test -count=1 -timeout 30m -p 1 -run '^TestChromium' ./internal/app || rc=1; \
	$(GO) test -race -count=1 -timeout 20m -p 1 $(MULTIPROCESS) $(BALANCE) || rc=1; \
	exit $$rc

test-rest-lane:
	@rc=0; \
	$(GO) test -race -count=1 -timeout 30m -p 1 -skip '^TestChromium' ./internal/app || rc=1; \
	$(GO) test -race -count=1 -timeout 20m -p 1 $$($(GO) list ./... | grep -vxF "$$($(GO) list ./internal/app $(MULTIPROCESS) $(BALANCE))") || rc=1; \
	exit $$rc

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
	$(GO) test ./internal/moderation/filter -run '^$$' -fuzz FuzzNormalize -fuzztime $(FUZZTIME)
	$(GO) test ./internal/store -run '^$$' -fuzz FuzzRewriteParams -fuzztime $(FUZZTIME)
	$(GO) test ./internal/clientaddr -run '^$$' -fuzz FuzzClientFrom -fuzztime $(FUZZTIME)

bench:
	$(GO) run ./cmd/livehouse bench

vendor-web:
	./scripts/vendor-web.sh
