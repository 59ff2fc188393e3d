package pgsvc.pooler;

/** A pool serves one (database entry, user) pair; with a forced user every client of the database shares one pool. */
record PoolKey(String database, String user) {
    @Override
    public String toString() {
        return database + "/" + user;
    }
}
