package pgsvc.router;

import java.util.List;

/** Every member's view at one moment, numbered so that routes can cache what they derive from it. */
record Topology(long version, List<MemberView> members) {

    /** The replay lag of a replica behind its cluster's primary in bytes; 0 for a primary or when no primary is up. */
    long lagBytes(MemberView member) {
        if (member.role() != MemberRole.REPLICA) {
            return 0;
        }
        for (MemberView m : members) {
            if (m.up() && m.role() == MemberRole.PRIMARY && m.host().cluster().equals(member.host().cluster())) {
                return Math.max(0, m.lsn() - member.lsn());
            }
        }
        return 0;
    }

    /** Whether a replica is a synchronous standby of its cluster's primary (matched by application_name = name). */
    boolean isSyncStandby(MemberView member) {
        for (MemberView m : members) {
            if (m.up() && m.role() == MemberRole.PRIMARY && m.host().cluster().equals(member.host().cluster())) {
                return m.syncNames().contains(member.name());
            }
        }
        return false;
    }
}
