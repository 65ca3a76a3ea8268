module example.com/identity-verify

go 1.26.4

require github.com/cf/identity v0.0.0

require (
	github.com/go-jose/go-jose/v4 v4.1.9 // indirect
	github.com/oklog/ulid/v2 v2.1.2 // indirect
)

replace github.com/cf/identity => ../..
