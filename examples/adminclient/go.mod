module example.com/identity-adminclient

go 1.26.4

require (
	github.com/Khan/genqlient v0.8.1
	github.com/cf/identity v0.0.0
)

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/oklog/ulid/v2 v2.1.2 // indirect
	github.com/vektah/gqlparser/v2 v2.5.64 // indirect
)

replace github.com/cf/identity => ../..
