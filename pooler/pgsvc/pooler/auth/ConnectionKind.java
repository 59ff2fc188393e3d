package pgsvc.pooler.auth;

/**
 * What a client asks for with the {@code replication} startup parameter (PgBouncer's ReplicationType). HBA rules
 * match a physical replication connection only through the {@code replication} database keyword; a logical one
 * ({@code replication=database}) matches by its database name like a normal connection.
 */
public enum ConnectionKind {
    NORMAL,
    LOGICAL_REPLICATION,
    PHYSICAL_REPLICATION
}
