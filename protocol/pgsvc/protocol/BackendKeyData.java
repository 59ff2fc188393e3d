package pgsvc.protocol;

/** BackendKeyData: what a client needs to send a CancelRequest for this session. */
public record BackendKeyData(int processId, int secretKey) {

    /** Leaves the key out: it is a credential for cancelling this session's queries. */
    @Override
    public String toString() {
        return "BackendKeyData[processId=" + processId + "]";
    }
}
