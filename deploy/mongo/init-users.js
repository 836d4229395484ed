// Creates one MongoDB user per service with readWrite on its own database only (run once by
// the mongo image on a fresh data volume: /docker-entrypoint-initdb.d/). Passwords come from
// the environment of the mongodb container; docker-compose.yml sets marked DEV DEFAULTS.
// In production, create the same users with your own passwords (see docs/SECURITY.md).
const users = [
  ["keyvault", "flowtrux_keyvault", "MONGO_PASSWORD_KEYVAULT"],
  ["workspace", "flowtrux_workspace", "MONGO_PASSWORD_WORKSPACE"],
  ["agent-runner", "flowtrux_agent_runner", "MONGO_PASSWORD_AGENT_RUNNER"],
];
for (const [user, database, passwordVar] of users) {
  const password = process.env[passwordVar];
  if (!password) throw new Error(`${passwordVar} is not set`);
  db.getSiblingDB(database).createUser({
    user,
    pwd: password,
    roles: [{ role: "readWrite", db: database }],
  });
  print(`created MongoDB user ${user} (readWrite on ${database} only)`);
}
