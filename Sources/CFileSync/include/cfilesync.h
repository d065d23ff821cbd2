#ifndef DICOM_INGEST_CFILESYNC_H
#define DICOM_INGEST_CFILESYNC_H

/* Starts writeback of [offset, offset + length) of fd without waiting for it: Linux's
   sync_file_range(SYNC_FILE_RANGE_WRITE), which glibc declares only under _GNU_SOURCE (so Swift's Glibc
   module does not see it). Returns 0, or -1 with errno set; 0 and no effect on other systems. */
int cfilesync_start_writeback(int fd, long long offset, long long length);

#endif
