# tests/e2e/guest.c: the shim's socket and TLS layers tested from inside a
# process that plays llmfbd itself (run by tests/e2e/guest.sh).  Included
# by the Makefile; the object comes from its $(B)/obj/%.o rule.
$(B)/guest: $(B)/obj/tests/e2e/guest.o
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -o $@ $^ $(LDFLAGS) -lssl -lcrypto -lpthread
