import Crypto
public import Domain
import Foundation
public import Logging
import Metrics
import NIOCore
import NIOPosix
public import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif


/// Recovery at start and the periodic sweep of the spool: claims of this node's previous life are
/// released, spooled rows whose file is missing become `lost`, files no row refers to are removed.
extension Forwarder {

    func recover() async {
        do {
            try await queue.releaseClaims(owner: options.owner)
        } catch {
            logger.warning("could not release the leases of this node's previous run", metadata: ["error": "\(error)"])
        }
        await sweep()
    }

    /// Removes spool files that no spooled row refers to and recounts the spool's bytes.
    func sweep() async {
        let locations: [CommittedInstanceObjects]
        do {
            locations = try await queue.spooledLocations(spoolID: spool.id)
        } catch {
            logger.warning("spool sweep skipped: catalog unavailable", metadata: ["error": "\(error)"])
            return
        }
        // The files each spooled row refers to, as `<listener id>/<key>`; a listener whose target cannot
        // be resolved keeps every file of its folder.
        var expected = Set<String>()
        var keepFolders = Set<String>()
        var targets: [UUID: any ObjectStore] = [:]
        for location in locations {
            let folder = location.listenerID.uuidString.lowercased()
            var store = targets[location.listenerID]
            if store == nil {
                do {
                    if let listener = try await listeners.listener(id: location.listenerID) {
                        store = try await stores.objectStore(for: resolveTarget(listener.storage))
                        targets[location.listenerID] = store
                    }
                } catch {
                    store = nil
                }
            }
            guard let store, let key = Self.key(of: location.objectURI, in: store) else {
                keepFolders.insert(folder)
                continue
            }
            expected.insert(folder + "/" + key)
            if let uri = location.metadataURI {
                guard let metadataKey = Self.key(of: uri, in: store) else {
                    keepFolders.insert(folder)
                    continue
                }
                expected.insert(folder + "/" + metadataKey)
            }
        }
        let root = spool.root
        let now = Date()
        let orphanAge = options.orphanAge.seconds
        let temporaryAge = options.temporaryOrphanAge.seconds
        let logger = self.logger
        let (keep, keepAll) = (expected, keepFolders)
        do {
            let (removed, total) = try await BlockingPools.files.runIfActive { () throws -> (Int, Int64) in
                var removed = 0
                var total: Int64 = 0
                for file in try Spool.files(under: root) {
                    let folder = String(file.relativePath.prefix { $0 != "/" })
                    let age = now.timeIntervalSince(file.modified)
                    let orphan = file.isTemporary
                        ? age >= temporaryAge
                        : !keep.contains(file.relativePath) && !keepAll.contains(folder) && age >= orphanAge
                    if orphan, unlink(root + "/" + file.relativePath) == 0 {
                        removed += 1
                    } else if !file.isTemporary {
                        // Temp files of writes in flight are counted by their reservations.
                        total += file.size
                    }
                }
                return (removed, total)
            }
            spool.usage.set(total)
            if removed > 0 {
                Counter(label: "dicom_spool_orphans_removed_total").increment(by: removed)
                logger.notice("removed spool files no catalog row refers to", metadata: ["files": "\(removed)"])
            }
        } catch {
            logger.warning("spool sweep failed", metadata: ["error": "\(error)"])
        }
    }

    func publishFigures() async {
        do {
            let figures = try await queue.spoolFigures()
            Gauge(label: "dicom_spool_instances").record(figures.instances)
            Gauge(label: "dicom_spool_bytes").record(await spool.bytes())
            Gauge(label: "dicom_spool_lost_instances").record(figures.lost)
            let age = figures.oldestReceivedAt.map { max(0, Date().timeIntervalSince($0)) } ?? 0
            Gauge(label: "dicom_spool_oldest_age_seconds").record(age)
        } catch {
            logger.debug("spool figures unavailable", metadata: ["error": "\(error)"])
        }
    }
}
