import { memoryPglite } from '../helpers/databases.js';
import { serverTimeSuite } from './server-time-suite.js';

serverTimeSuite('PGlite', memoryPglite);
