/// How dicom-ingest identifies itself: in the File Meta Information (PS3.10 §7.1, (0002,0012) and
/// (0002,0013)) and in the A-ASSOCIATE user information (PS3.7 Annex D.3.3.2).
public enum Implementation {
    /// A UUID-derived UID under the `2.25` root (PS3.5 §B.2), fixed for this implementation.
    public static let classUID = "2.25.146024011393546101064577402549474563427"
    /// At most 16 characters of the default repertoire.
    public static let versionName = "DICOM_INGEST_01"
}
