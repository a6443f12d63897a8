# Base tools every part needs: busybox (images, mini container), cpio (initramfs), iproute2.
apt_install busybox-static cpio iproute2 ca-certificates
