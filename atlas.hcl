// Atlas project file for users of the official Atlas binary (not needed to
// build, test or run cf identity: `identity migrate ...` does all of it with
// the Atlas Go library).
//
//   atlas migrate diff NAME --env sqlite      # plan from the ent schema
//   atlas migrate lint --env postgres --latest 1
//
// Note: `identity migrate apply` records applied files in the
// cf_schema_revisions table, while `atlas migrate apply` uses its own
// atlas_schema_revisions table. Apply a database with one tool only.

variable "database_url" {
  type    = string
  default = getenv("IDENTITY_DATABASE_URL")
}

env "sqlite" {
  src = "ent://ent/schema"
  url = var.database_url
  dev = "sqlite://dev?mode=memory&_fk=1"
  migration {
    dir = "file://migrations/sqlite"
  }
}

env "postgres" {
  src = "ent://ent/schema"
  url = var.database_url
  dev = "docker://postgres/15/dev?search_path=public"
  migration {
    dir = "file://migrations/postgres"
  }
}
